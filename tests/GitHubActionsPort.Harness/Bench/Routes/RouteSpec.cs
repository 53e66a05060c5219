namespace GitHubActionsPort.Harness.Bench.Routes;

/// <summary>
/// One way from the client to the bench targets, as <c>--routes</c> names it. The four ghaport routes differ only
/// in the broker's listener scheme and the data lane the agent is told to use; everything else is the same code.
/// </summary>
/// <param name="Key">Name on the command line and in the JSON.</param>
/// <param name="Label">Column heading of the table.</param>
/// <param name="Path">What the bytes cross, for people.</param>
/// <param name="Lane"><c>grpc</c> or <c>raw</c> for the ghaport routes; null for the baselines.</param>
/// <param name="Tls">Whether the agent reaches the broker over TLS.</param>
internal sealed record RouteSpec(string Key, string Label, string Path, string? Lane, bool Tls)
{
    public const string GrpcLane = "grpc";
    public const string RawLane = "raw";

    public static RouteSpec Direct { get; } = new("direct", "direct", "client -> target", null, false);

    public static RouteSpec Socat { get; } = new("socat", "socat x2", "client -> socat -> socat -> target (socat -b 131072, one process per connection)", null, false);

    public static RouteSpec GrpcH2c { get; } = new("grpc-h2c", "grpc h2c", "client -> agent -> one gRPC stream, HTTP/2 cleartext -> broker -> target", GrpcLane, false);

    public static RouteSpec GrpcTls { get; } = new("grpc-tls", "grpc tls", "client -> agent -> one gRPC stream, HTTP/2 over TLS -> broker -> target", GrpcLane, true);

    public static RouteSpec RawPlain { get; } = new("raw-plain", "raw plain", "client -> agent -> raw lane, one TCP connection per tunnel -> broker -> target", RawLane, false);

    public static RouteSpec RawTls { get; } = new("raw-tls", "raw tls", "client -> agent -> raw lane, one TLS connection per tunnel -> broker -> target", RawLane, true);

    /// <summary>Every route, in table order: the baselines first.</summary>
    public static IReadOnlyList<RouteSpec> All { get; } = [Direct, Socat, GrpcH2c, GrpcTls, RawPlain, RawTls];

    /// <summary>True for the routes through the agent and broker.</summary>
    public bool IsGhaport => Lane is not null;

    public override string ToString() => Key;
}
