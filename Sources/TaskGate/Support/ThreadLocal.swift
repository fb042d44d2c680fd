import NIOPosix

extension ThreadSpecificVariable {
    /// The calling thread's value, made by `make` (and kept for the thread) the first time.
    func current(orMake make: () -> Value) -> Value {
        if let value = currentValue { return value }
        let value = make()
        currentValue = value
        return value
    }
}
