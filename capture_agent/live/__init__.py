"""Live views of a running capture: status table, normalised event feed, monitor page."""
