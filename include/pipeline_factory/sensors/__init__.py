"""Sensors the factory renders for control stages; light to import (parsed with every DAG)."""
