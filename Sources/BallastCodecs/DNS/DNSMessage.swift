public import BallastCore

/// Record types Ballast knows by name.
public enum DNSType {
    public static let a: UInt16 = 1
    public static let ns: UInt16 = 2
    public static let cname: UInt16 = 5
    public static let soa: UInt16 = 6
    public static let mx: UInt16 = 15
    public static let txt: UInt16 = 16
    public static let aaaa: UInt16 = 28
    public static let srv: UInt16 = 33
    public static let opt: UInt16 = 41
    public static let ixfr: UInt16 = 251
    public static let axfr: UInt16 = 252
    public static let any: UInt16 = 255
}

/// Response codes (RFC 1035, 6891).
public enum DNSRCode {
    public static let noError: UInt16 = 0
    public static let formErr: UInt16 = 1
    public static let servFail: UInt16 = 2
    public static let nxDomain: UInt16 = 3
    public static let notImp: UInt16 = 4
    public static let refused: UInt16 = 5
    public static let notAuth: UInt16 = 9
    public static let badVers: UInt16 = 16
}

/// Opcodes (RFC 1035, 1996).
public enum DNSOpcode {
    public static let query: UInt8 = 0
    public static let notify: UInt8 = 4
}

/// A question: the name, type and class asked for.
public struct DNSQuestion: Hashable, Sendable {
    public var name: DomainName
    public var type: UInt16
    public var dnsClass: UInt16

    public init(name: DomainName, type: UInt16, dnsClass: UInt16 = 1) {
        self.name = name
        self.type = type
        self.dnsClass = dnsClass
    }
}

/// The data of a resource record.
public enum DNSRecordData: Hashable, Sendable {
    case a(IPAddress)
    case aaaa(IPAddress)
    case ns(DomainName)
    case cname(DomainName)
    case soa(
        primary: DomainName, mailbox: DomainName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
        minimum: UInt32)
    case mx(preference: UInt16, exchange: DomainName)
    case txt([[UInt8]])
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DomainName)
    /// Any other type, kept as its bytes.
    case unknown(type: UInt16, bytes: [UInt8])

    /// The record type of this data.
    public var type: UInt16 {
        switch self {
        case .a: return DNSType.a
        case .aaaa: return DNSType.aaaa
        case .ns: return DNSType.ns
        case .cname: return DNSType.cname
        case .soa: return DNSType.soa
        case .mx: return DNSType.mx
        case .txt: return DNSType.txt
        case .srv: return DNSType.srv
        case .unknown(let type, _): return type
        }
    }
}

/// A resource record.
public struct DNSRecord: Hashable, Sendable {
    public var name: DomainName
    public var dnsClass: UInt16
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DomainName, ttl: UInt32, data: DNSRecordData, dnsClass: UInt16 = 1) {
        self.name = name
        self.dnsClass = dnsClass
        self.ttl = ttl
        self.data = data
    }

    public var type: UInt16 { data.type }
}

/// The EDNS0 pseudo-record (RFC 6891).
public struct EDNS: Hashable, Sendable {
    /// Largest UDP payload the sender takes.
    public var udpPayloadSize: UInt16
    /// Upper 8 bits of the extended response code.
    public var extendedRCode: UInt8
    public var version: UInt8
    public var dnssecOK: Bool

    public init(udpPayloadSize: UInt16, extendedRCode: UInt8 = 0, version: UInt8 = 0, dnssecOK: Bool = false) {
        self.udpPayloadSize = udpPayloadSize
        self.extendedRCode = extendedRCode
        self.version = version
        self.dnssecOK = dnssecOK
    }
}

/// A DNS message (RFC 1035 section 4).
public struct DNSMessage: Hashable, Sendable {
    public var id: UInt16
    public var isResponse = false
    public var opcode: UInt8 = DNSOpcode.query
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    /// The response code, 4 bits, or 12 with EDNS.
    public var rcode: UInt16 = DNSRCode.noError
    public var questions: [DNSQuestion] = []
    public var answers: [DNSRecord] = []
    public var authorities: [DNSRecord] = []
    public var additionals: [DNSRecord] = []
    /// The OPT record, when the message has one.
    public var edns: EDNS?

    public init(id: UInt16) { self.id = id }
}
