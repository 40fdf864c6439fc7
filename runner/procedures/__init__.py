"""One module per procedure of the seed, each a pure planner plus the steps it declares."""
