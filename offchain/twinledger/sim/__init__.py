"""The filling-plant simulator: a reading source with coupled dynamics and injected faults, and the
device that program calls drive."""
from .faults import Broken, Drift, Fault, Spikes, Stuck, Swap
from .plant import DEFAULT_SENSORS, CommandError, CommandResult, FillingPlantSimulator, PlantParams

__all__ = ["DEFAULT_SENSORS", "Broken", "CommandError", "CommandResult", "Drift", "Fault", "FillingPlantSimulator", "PlantParams",
           "Spikes", "Stuck", "Swap"]
