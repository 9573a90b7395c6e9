"""Tools that load and measure Surge (seeding, load tests, capacity planning). Never imported by
a serving process."""
