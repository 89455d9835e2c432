"""Results: the typed records the measurements write, their history, what makes one inconsistent, which cells need
measuring again, and whether a cell changed between two measurements. report/ renders them."""
