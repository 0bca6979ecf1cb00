"""Regions: Jeju's real administrative boundaries and point-to-district resolution."""
