"""Reading an AlphaESS inverter over Modbus TCP (issue #32)."""
