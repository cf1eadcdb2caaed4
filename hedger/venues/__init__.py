"""Perp venues, one file each, all behind the Venue protocol in base.py."""
