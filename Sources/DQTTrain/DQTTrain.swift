// DQTTrain
