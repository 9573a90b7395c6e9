"""Tables and the click-event schema. Imports platform only."""
