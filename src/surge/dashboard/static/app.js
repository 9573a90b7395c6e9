// Copy buttons: the text in data-copy goes to the clipboard; the button says so.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Press Ctrl+C";
    window.prompt("Copy:", button.dataset.copy);
  }
  setTimeout(() => { button.textContent = label; }, 1500);
});
