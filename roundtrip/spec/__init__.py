"""What a model is: layer and node kinds, model and graph specs, their values and inputs."""
