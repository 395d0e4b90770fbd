"""Reports from results: the cost report, the uplift report, their plots and grids, the headline."""
