namespace GitHubActionsPort.Broker.Store;

/// <summary>Where the broker keeps its state, and how it watches it (<c>Broker:Store</c>).</summary>
internal sealed record StoreSettings
{
    /// <summary><c>Broker:Store:Kind</c>: sqlite (default), postgres or memory.</summary>
    public StoreKind Kind { get; init; } = StoreKind.Sqlite;

    /// <summary>
    /// <c>Broker:Store:Path</c>: the sqlite file, a full path once read (<see cref="StoreSettingsReader"/>). Default:
    /// <c>broker-state.db</c> beside the lease signing key (<c>Broker:Leases:SigningKeyPath</c>).
    /// </summary>
    public string? Path { get; init; }

    /// <summary>
    /// The PostgreSQL connection string, from <c>Broker:Store:ConnectionString</c> or read from the owner-only file
    /// <c>Broker:Store:ConnectionStringFile</c>. Never logged: it may hold a password.
    /// </summary>
    public string? ConnectionString { get; init; }

    /// <summary><c>Broker:Store:Schema</c>: the PostgreSQL schema the broker's tables live in. Default: ghaport.</summary>
    public string Schema { get; init; } = "ghaport";

    /// <summary>
    /// <c>Broker:Store:MaxStaleness</c>: how long an instance carries its open tunnels without hearing from the store
    /// (it cannot hear revocations meanwhile); past it it ends them. Default: 60 seconds.
    /// </summary>
    public TimeSpan MaxStaleness { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary><c>Broker:Store:HeartbeatInterval</c>: how often an instance says it is alive. Default: 5 seconds.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <c>Broker:Store:InstanceTimeout</c>: an instance silent this long is lost, and another records its tunnels as
    /// ended and gives back their slots. Default: 75 seconds: longer than <see cref="MaxStaleness"/> plus a heartbeat,
    /// since an instance cut off from the store carries its tunnels that long.
    /// </summary>
    public TimeSpan InstanceTimeout { get; init; } = TimeSpan.FromSeconds(75);

    /// <summary>
    /// <c>Broker:Store:PollInterval</c>: how often changes are read without a notification (the net under LISTEN/NOTIFY,
    /// whose notifications are lost while a connection is down). Default: 1 second.
    /// </summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>What <see cref="object.ToString"/> shows: everything but the connection string, which may hold a password.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"Kind = {Kind}, Path = {Path}, ConnectionString = {(ConnectionString is null ? "(none)" : "(hidden)")}, Schema = {Schema}, ");
        builder.Append(System.Globalization.CultureInfo.InvariantCulture, $"MaxStaleness = {MaxStaleness}, HeartbeatInterval = {HeartbeatInterval}, InstanceTimeout = {InstanceTimeout}, PollInterval = {PollInterval}");
        return true;
    }
}
