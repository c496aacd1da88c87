"""Lock health: uptime within bounds, excursions and unknown time per day and week; forecasts; what changed."""
