// DQTModel
