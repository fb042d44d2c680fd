public enum TaskGateSimulatorsPlaceholder {}
