"""Importing registers from staff's Excel and CSV files."""
