"""Transfer operators: Telzino calls into other systems."""
