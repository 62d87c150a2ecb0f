import BallastCore
import Testing

/// A relay's kind carries the settings its protocol has and no others; its protocol's name and
/// its HTTP or mail settings are read from the kind.
@Suite struct RelayTests {
    let listen = Endpoint("10.0.0.10:443")!
    let certificate = HTTPSettings.Certificate(certificateFile: "a.pem", keyFile: "a.key")

    func relay(_ kind: Relay.Kind) -> Relay { Relay(name: "r", listen: listen, kind: kind, pool: "p") }

    @Test func eachKindNamesItsProtocol() {
        #expect(relay(.tcp).protocol == .tcp)
        #expect(relay(.http(HTTPSettings())).protocol == .http)
        #expect(relay(.https(HTTPSettings(certificates: [certificate]))).protocol == .https)
        #expect(relay(.mail(MailSettings(dialect: .imap))).protocol == .imap)
        #expect(relay(.mail(MailSettings(dialect: .imap, implicitTLS: true))).protocol == .imaps)
        #expect(relay(.mail(MailSettings(dialect: .pop3))).protocol == .pop3)
        #expect(relay(.mail(MailSettings(dialect: .pop3, implicitTLS: true))).protocol == .pop3s)
        #expect(Relay(name: "r", listen: listen, pool: "p").kind == .tcp)
    }

    @Test func onlyHTTPRelaysHaveHTTPSettingsAndOnlyMailRelaysMailSettings() {
        var settings = HTTPSettings()
        settings.maxHeaderBytes = 8192
        #expect(relay(.http(settings)).http?.maxHeaderBytes == 8192)
        #expect(relay(.https(settings)).http == settings)
        #expect(relay(.tcp).http == nil && relay(.tcp).mail == nil)
        let mail = MailSettings(dialect: .imap, certificates: [certificate])
        #expect(relay(.mail(mail)).http == nil)
        #expect(relay(.mail(mail)).mail?.certificates == [certificate])
        #expect(relay(.http(settings)).mail == nil)
    }

    @Test func relaysThatDifferOnlyInKindAreNotEqual() {
        #expect(relay(.http(HTTPSettings())) != relay(.https(HTTPSettings())))
        #expect(relay(.mail(MailSettings(dialect: .imap))) != relay(.mail(MailSettings(dialect: .pop3))))
        #expect(relay(.tcp) == relay(.tcp))
    }
}
