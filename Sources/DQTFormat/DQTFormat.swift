// DQTFormat
