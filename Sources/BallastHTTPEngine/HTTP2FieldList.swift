import CNGHTTP2

/// A response's header fields for nghttp2: names lowercased as HTTP/2 requires, the bytes in
/// one buffer the `nghttp2_nv` entries point into, so that nothing is rebuilt at submission.
/// One per connection, reused for every response; nghttp2 copies the fields when they are
/// submitted.
final class HTTP2FieldList {
    private var bytes: UnsafeMutablePointer<UInt8>
    private var byteCapacity: Int
    private var used = 0
    private var entries: UnsafeMutablePointer<nghttp2_nv>
    private var entryCapacity: Int
    /// How many fields the list holds, `:status` included.
    private(set) var count = 0

    init(bytes: Int = 1024, fields: Int = 16) {
        byteCapacity = max(bytes, 16)
        entryCapacity = max(fields, 2)
        self.bytes = .allocate(capacity: byteCapacity)
        entries = .allocate(capacity: entryCapacity)
    }

    deinit {
        bytes.deallocate()
        entries.deallocate()
    }

    /// Empties the list for a response with `status` (clamped to three digits).
    func reset(status: Int) {
        used = 0
        count = 0
        let clamped = min(max(status, 100), 999)
        let digits: (UInt8, UInt8, UInt8) = (
            UInt8(0x30 + clamped / 100), UInt8(0x30 + clamped / 10 % 10), UInt8(0x30 + clamped % 10)
        )
        withUnsafeBytes(of: digits) { add(name: ":status", value: $0) }
    }

    /// Adds a field, its name lowercased.
    func add(lowercasing name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        add(name: name, value: value, lowercase: true)
    }

    /// Adds a field whose name is a lowercase literal.
    func add(name: StaticString, value: UnsafeRawBufferPointer) {
        add(
            name: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount), value: value,
            lowercase: false)
    }

    /// Adds a field given as any bytes (Ballast's own answers; responses from servers come as
    /// buffers).
    func add(lowercasing name: some Collection<UInt8>, value: some Collection<UInt8>) {
        let name = Array(name)
        let value = Array(value)
        name.withUnsafeBytes { name in value.withUnsafeBytes { value in add(name: name, value: value, lowercase: true) }
        }
    }

    /// The field at `index`, as nghttp2 will read it (for tests and logs).
    func field(at index: Int) -> (name: [UInt8], value: [UInt8]) {
        let entry = entries[index]
        return (
            Array(UnsafeBufferPointer(start: entry.name, count: entry.namelen)),
            Array(UnsafeBufferPointer(start: entry.value, count: entry.valuelen))
        )
    }

    /// Submits the fields as stream `id`'s response.
    func submit(stream id: Int32, connection: HTTP2EngineConnection, body: Bool) -> Bool {
        connection.submitResponse(id, fields: entries, count: count, body: body)
    }

    /// Submits the fields as an interim (1xx) response of stream `id`.
    func submitInterim(stream id: Int32, connection: HTTP2EngineConnection) -> Bool {
        connection.submitInterim(id, fields: entries, count: count)
    }

    private func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, lowercase: Bool) {
        reserve(bytes: name.count + value.count)
        let nameStart = bytes + used
        for offset in 0..<name.count {
            let byte = name[offset]
            nameStart[offset] = lowercase && byte &- 0x41 < 26 ? byte | 0x20 : byte
        }
        used += name.count
        let valueStart = bytes + used
        if let base = value.baseAddress, value.count > 0 {
            valueStart.update(from: base.assumingMemoryBound(to: UInt8.self), count: value.count)
        }
        used += value.count
        entries[count] = nghttp2_nv(
            name: nameStart, value: valueStart, namelen: name.count, valuelen: value.count,
            flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
        count += 1
    }

    /// Room for one more field of `more` bytes; when the buffer moves, the entries made so far
    /// are pointed at its new place.
    private func reserve(bytes more: Int) {
        if count == entryCapacity {
            let grown = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: entryCapacity * 2)
            grown.moveInitialize(from: entries, count: count)
            entries.deallocate()
            entries = grown
            entryCapacity *= 2
        }
        guard used + more > byteCapacity else { return }
        let capacity = max(byteCapacity * 2, used + more)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        grown.update(from: bytes, count: used)
        for index in 0..<count {
            let entry = entries[index]
            entries[index].name = grown + (entry.name - bytes)
            entries[index].value = grown + (entry.value - bytes)
        }
        bytes.deallocate()
        bytes = grown
        byteCapacity = capacity
    }
}
