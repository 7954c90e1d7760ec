"""Plant connectors: OPC UA, MQTT (plain JSON topics and Sparkplug B) and Modbus TCP sources that
also carry program calls back to the device. See ``base`` for the contract every connector keeps."""
