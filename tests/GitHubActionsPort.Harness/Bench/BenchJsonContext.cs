using System.Text.Json.Serialization;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>Serialization of <see cref="BenchReport"/>, generated at build time.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BenchReport))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;
