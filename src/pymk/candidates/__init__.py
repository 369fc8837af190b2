"""Candidate generation: several bounded sources (friends-of-friends, PPR, activity, popularity) merged."""
