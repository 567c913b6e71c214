"""Control stages: rendered as sensors or operators, not run by the stage runner."""
