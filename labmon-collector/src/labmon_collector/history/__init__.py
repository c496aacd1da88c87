"""The SQLite history: the `sqlite` sink that writes it and the reader that plots and exports it."""
