// DQTKernels
