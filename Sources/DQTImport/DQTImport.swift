// DQTImport
