using System.Text.Json;
using System.Text.Json.Serialization;
using GitHubActionsPort.Agent.Forwarding;

namespace GitHubActionsPort.Agent.Background;

/// <summary>What <c>ghaport status</c> shows: the broker in use, the lease and, per forward, what it has carried.</summary>
internal sealed record AgentStatus(
    int Pid,
    string Broker,
    string LeaseId,
    DateTimeOffset ExpiresAt,
    DateTimeOffset StartedAt,
    IReadOnlyList<ForwardStatus> Forwards)
{
    /// <summary>Why the lease ended (revoked, blocked, no longer permitted, expired); null while it is live.</summary>
    public string? Ended { get; init; }

    /// <summary>Every broker the agent may use, in order (each address of a host name apart); <see cref="Broker"/> is the one in use.</summary>
    public IReadOnlyList<string> Brokers { get; init; } = [];
}

/// <summary>One forward's address, target and totals.</summary>
internal sealed record ForwardStatus(
    string Address,
    string Target,
    long Connections,
    long Active,
    long Failed,
    long Refused,
    long BytesSent,
    long BytesReceived,
    long ConnectionMilliseconds)
{
    public static ForwardStatus From(string address, ForwardTotals? totals, string target) => new(
        address, target, totals?.Connections ?? 0, totals?.Active ?? 0, totals?.Failed ?? 0, totals?.Refused ?? 0, totals?.BytesSent ?? 0, totals?.BytesReceived ?? 0,
        (long)(totals?.TotalDuration.TotalMilliseconds ?? 0));

    public ForwardTotals ToTotals() =>
        new(Target, Connections, Active, Failed, Refused, BytesSent, BytesReceived, TimeSpan.FromMilliseconds(ConnectionMilliseconds));
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(AgentStatus))]
internal sealed partial class AgentStatusJson : JsonSerializerContext;
