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

// The links list's "tick all": ticks (or clears) every link of the page.
document.addEventListener("change", (event) => {
  if (event.target.id !== "tick-all") return;
  for (const box of document.querySelectorAll('#batch input[name="link"]')) {
    box.checked = event.target.checked;
  }
});
