"""pymk: People You May Know — a production-grade, real-time friend recommendation system."""

__version__ = "0.1.0"
