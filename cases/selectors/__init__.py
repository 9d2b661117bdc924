"""Selectors own reads that more than one caller needs."""
