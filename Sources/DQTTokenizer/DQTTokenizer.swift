// DQTTokenizer
