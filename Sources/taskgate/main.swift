print("taskgate")
