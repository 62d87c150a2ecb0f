/// "1 pool", "3 pools": a count with its noun in the right number, for what people read.
public func counted(_ count: Int, _ singular: String, plural: String? = nil) -> String {
    "\(count) \(count == 1 ? singular : plural ?? singular + "s")"
}
