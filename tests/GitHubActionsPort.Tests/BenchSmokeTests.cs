using System.Text.Json;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The bench harness end to end, as a user runs it: a quick bench over direct, socat and the gRPC h2c route exits
/// 0 and writes a report a later run can be compared with. Nothing is asserted on the numbers themselves.
/// </summary>
public sealed class BenchSmokeTests
{
    [Test]
    public async Task QuickBench_DirectSocatGrpcH2c_ExitsZero_AndWritesComparableJson()
    {
        var folder = Directory.CreateTempSubdirectory("ghaport-bench-test-").FullName;
        var json = Path.Combine(folder, "bench.json");
        try
        {
            await using var harness = ChildProcess.Start("ghaport-harness.dll", ["bench", "--quick", "--routes", "direct,grpc-h2c,socat", "--scenarios", "throughput,idle", "--json", json]);
            var exitCode = await harness.WaitForExitAsync(TimeSpan.FromMinutes(2));

            Assert.That(exitCode, Is.Zero, harness.Describe());
            using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
            var root = report.RootElement;
            var routes = root.GetProperty("routes").EnumerateArray().ToDictionary(r => r.GetProperty("key").GetString()!);
            Assert.That(routes["direct"].GetProperty("state").GetString(), Is.EqualTo("measured"));
            Assert.That(routes["grpc-h2c"].GetProperty("state").GetString(), Is.EqualTo("measured"), harness.Describe());
            Assert.That(routes["grpc-h2c"].GetProperty("failures").GetArrayLength(), Is.Zero, harness.Describe());
            Assert.That(routes["socat"].GetProperty("state").GetString(), Is.EqualTo("measured").Or.EqualTo("skipped"), "socat is measured when installed, else skipped with the apt-get hint");
            var upload = root.GetProperty("results").EnumerateArray().Single(r => r.GetProperty("key").GetString() == "one-stream-upload");
            Assert.That(upload.GetProperty("values").GetProperty("grpc-h2c").GetDouble(), Is.GreaterThan(0));
            Assert.That(upload.GetProperty("versusDirect").GetProperty("grpc-h2c").GetDouble(), Is.GreaterThan(0));
            Assert.That(root.GetProperty("goals").GetArrayLength(), Is.GreaterThan(0));
            Assert.That(harness.Output.Lines, Has.Some.StartsWith("Route / direct"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
