"""Pure array functions the stages are made of; no models, no I/O, no state."""
