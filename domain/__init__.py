"""The hotline's domain: aggregates, their events and rules, and the use cases over them."""
