"""Release-stability assets (Mission Control crash rates)."""
