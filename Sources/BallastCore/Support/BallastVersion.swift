/// The version `ballast --version` prints and the admin API reports.
public enum BallastVersion {
    /// Semantic version of this source tree.
    public static let current = "0.15.0"
}
