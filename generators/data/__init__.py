"""Seeded, vectorized data generation for the four stores."""
