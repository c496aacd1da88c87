"""The labmon measurer service: answers inquiries with the readings of its instruments."""
