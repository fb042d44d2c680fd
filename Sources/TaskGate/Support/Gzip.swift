import CompressNIO
import Foundation
import NIOCore

/// gzip through zlib (compress-nio), with every failure classified. Public for the simulators,
/// which gzip like the vendors do.
public enum Gzip {
    public static func compress(_ buffer: ByteBuffer) throws(GatewayError) -> ByteBuffer {
        var input = buffer
        do {
            return try input.compress(with: .gzip())
        } catch {
            throw GatewayError(.internal, "Compressing an answer failed.")
        }
    }

    static func inflate(_ buffer: ByteBuffer, maxBytes: Int) throws(GatewayError) -> ByteBuffer {
        var input = buffer
        do {
            return try input.decompress(with: .gzip(), maxSize: maxBytes)
        } catch {
            throw GatewayError(.storeUnavailable, "A stored answer could not be inflated.")
        }
    }
}
