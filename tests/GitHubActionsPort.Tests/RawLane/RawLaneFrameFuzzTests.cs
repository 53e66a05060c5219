using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Unicode;
using GitHubActionsPort.Protocol.RawLane;
using Grpc.Core;

namespace GitHubActionsPort.Tests.RawLane;

/// <summary>
/// The raw-lane parser against seeded random input: random bytes and mutated valid frames (bit flips, truncations,
/// edited length fields, splices, inserted and deleted bytes), each fed whole, in random segments, and growing a
/// few bytes at a time. Every answer is checked against the framing rules written out again here, apart from the
/// parser: it never throws, never reads past its input, reads exactly one message of header plus declared length
/// that encodes back to the same bytes, and needs more only while the input can still become a message.
/// </summary>
public sealed class RawLaneFrameFuzzTests
{
    private const int Seed = 0x6768_7072;
    private const int Cases = 25_000;

    private static readonly byte[] Hostile = [0x00, 0x09, 0x0A, 0x20, 0x7F, 0x80, 0xC0, 0xC3, 0xED, 0xF4, 0xFF];
    private static readonly string[] DetailPieces = ["a", "Z", "0", " ", "'", "\n", "\t", "\0", "é", "—", "🔑", "\uFEFF", "lease ", "target "];

    [Test]
    public void SeededRandomInput_NeverThrows_AndAgreesWithTheFramingRules()
    {
        var random = new Random(Seed);
        var failures = new List<string>();
        var outcomes = new Dictionary<RawLaneReadStatus, int>();
        var kindsRead = new HashSet<Type>();
        var errors = new HashSet<string>(StringComparer.Ordinal);

        for (var i = 0; i < Cases && failures.Count < 10; i++)
        {
            var (bytes, how) = NextInput(random);
            // A truncated frame is read from the front of the whole one: the rest lies just past the end of the input.
            var length = how == "truncated" ? random.Next(bytes.Length) : bytes.Length;
            var input = bytes[..length];
            Check(i, how, "whole", input, new ReadOnlySequence<byte>(bytes, 0, length));
            Check(i, how, "segmented", input, SegmentedSequence.Split(input, RandomCuts(random, length)));
            if (random.Next(8) == 0)
            {
                // As a pipe would hand it over: a few more bytes each time, each prefix its own question.
                for (var fed = 0; fed < length; fed += 1 + random.Next(Math.Max(1, length / 8)))
                {
                    var prefix = random.Next(2) == 0 ? new ReadOnlySequence<byte>(bytes, 0, fed) : SegmentedSequence.Split(input.AsMemory(0, fed), RandomCuts(random, fed));
                    Check(i, how, $"first {fed} bytes", input[..fed], prefix);
                }
            }
        }

        Assert.That(failures, Is.Empty, $"seed {Seed}");
        // The generator must reach every outcome, every kind, and many reasons, or the test proves little.
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.GetValueOrDefault(RawLaneReadStatus.Read), Is.GreaterThan(Cases / 10), "reads");
            Assert.That(outcomes.GetValueOrDefault(RawLaneReadStatus.NeedMore), Is.GreaterThan(Cases / 10), "need-mores");
            Assert.That(outcomes.GetValueOrDefault(RawLaneReadStatus.Invalid), Is.GreaterThan(Cases / 10), "invalids");
            Assert.That(kindsRead, Is.EquivalentTo(new[] { typeof(RawLaneHello), typeof(RawLaneOpen), typeof(RawLaneReply) }));
            Assert.That(errors, Has.Count.GreaterThanOrEqualTo(7), "distinct reasons: magic, version, kind, length, and a malformed body of each kind");
        });

        void Check(int index, string how, string shape, byte[] bytes, ReadOnlySequence<byte> sequence)
        {
            var expected = Expected(bytes);
            var buffer = sequence;
            RawLaneReadStatus status;
            RawLaneMessage? message;
            string? error;
            try
            {
                status = RawLaneFrame.TryRead(ref buffer, out message, out error);
            }
            catch (Exception ex)
            {
                failures.Add($"case {index} ({how}, {shape}) threw {ex.GetType().Name}: {ex.Message}; input {Hex(bytes)}");
                return;
            }

            outcomes[status] = outcomes.GetValueOrDefault(status) + 1;
            var problem = status != expected.Status ? $"{status} ({error}) where the rules say {expected.Status}"
                : status switch
                {
                    RawLaneReadStatus.Read => ReadProblem(bytes, sequence, buffer, message, error, expected),
                    RawLaneReadStatus.NeedMore => message is not null || error is not null ? $"NeedMore with message {message} or error '{error}'"
                        : !Unchanged(buffer, sequence) ? "NeedMore consumed bytes" : null,
                    _ => message is not null || string.IsNullOrWhiteSpace(error) ? $"Invalid with message {message} or no error"
                        : !Unchanged(buffer, sequence) ? "Invalid consumed bytes" : null,
                };
            if (problem is not null)
            {
                failures.Add($"case {index} ({how}, {shape}): {problem}; input {Hex(bytes)}");
            }

            if (status == RawLaneReadStatus.Read)
            {
                kindsRead.Add(message!.GetType());
            }

            if (error is not null)
            {
                // Numbers vary with the input; the reasons are what count.
                errors.Add(Regex.Replace(error, "[0-9]+", "#"));
            }
        }
    }

    private static string? ReadProblem(byte[] input, ReadOnlySequence<byte> sequence, ReadOnlySequence<byte> rest, RawLaneMessage? message, string? error, Expectation expected)
    {
        if (error is not null || !Equals(message, expected.Message))
        {
            return $"read {message} (error '{error}') where the rules read {expected.Message}";
        }

        if (rest.Length != input.Length - expected.Length || !rest.End.Equals(sequence.End))
        {
            return $"consumed {input.Length - rest.Length} bytes where the frame is {expected.Length} (header and declared length)";
        }

        try
        {
            var encoded = RawLaneFrame.Encode(message!);
            return encoded.AsSpan().SequenceEqual(input.AsSpan(0, expected.Length)) ? null : $"{message} encodes to other bytes: {Hex(encoded)}";
        }
        catch (ArgumentException ex)
        {
            return $"{message} was read but Encode refuses it: {ex.Message}";
        }
    }

    private sealed record Expectation(RawLaneReadStatus Status, RawLaneMessage? Message = null, int Length = 0);

    /// <summary>The framing rules, written out from the protocol's description rather than from the parser.</summary>
    private static Expectation Expected(ReadOnlySpan<byte> input)
    {
        var invalid = new Expectation(RawLaneReadStatus.Invalid);
        var needMore = new Expectation(RawLaneReadStatus.NeedMore);
        var magic = "GHPR"u8;
        for (var i = 0; i < Math.Min(magic.Length, input.Length); i++)
        {
            if (input[i] != magic[i])
            {
                return invalid;
            }
        }

        if ((input.Length > 4 && input[4] != 1) || (input.Length > 5 && input[5] is not (1 or 2 or 3)))
        {
            return invalid;
        }

        if (input.Length < 8)
        {
            return needMore;
        }

        var length = (input[6] << 8) | input[7];
        if (length > RawLaneFrame.MaxBodyLength)
        {
            return invalid;
        }

        if (input.Length < 8 + length)
        {
            return needMore;
        }

        var body = input.Slice(8, length);
        var at = 0;
        RawLaneMessage? message = null;
        if (input[5] == 1)
        {
            if (Printable(body, ref at, wide: true, RawLaneFrame.MaxTokenLength) is { } token && Printable(body, ref at, wide: false, 255) is { } proof)
            {
                message = new RawLaneHello(token, proof);
            }
        }
        else if (input[5] == 2)
        {
            if (Printable(body, ref at, wide: false, 255) is { } target)
            {
                message = new RawLaneOpen(target);
            }
        }
        else if (body.Length >= 3 && body[0] <= 16)
        {
            var detailLength = (body[1] << 8) | body[2];
            at = 3 + detailLength;
            if (detailLength <= 1024 && at <= body.Length && Utf8.IsValid(body.Slice(3, detailLength)))
            {
                message = new RawLaneReply((StatusCode)body[0], Encoding.UTF8.GetString(body.Slice(3, detailLength)));
            }
        }

        return message is not null && at == body.Length ? new Expectation(RawLaneReadStatus.Read, message, 8 + length) : invalid;
    }

    private static string? Printable(ReadOnlySpan<byte> body, ref int at, bool wide, int max)
    {
        var prefix = wide ? 2 : 1;
        if (body.Length - at < prefix)
        {
            return null;
        }

        var length = wide ? (body[at] << 8) | body[at + 1] : body[at];
        at += prefix;
        if (length == 0 || length > max || body.Length - at < length)
        {
            return null;
        }

        var text = body.Slice(at, length);
        at += length;
        foreach (var b in text)
        {
            if (b is < (byte)'!' or > (byte)'~')
            {
                return null;
            }
        }

        return Encoding.ASCII.GetString(text);
    }

    private static (byte[] Input, string How) NextInput(Random random)
    {
        var frame = RawLaneFrame.Encode(ValidMessage(random));
        switch (random.Next(11))
        {
            case 0:
                return (Bytes(random, random.Next(48)), "random bytes");
            case 1:
                // A right header over a random body: the body rules get the random bytes, not the magic check.
                var declared = random.Next(64);
                return ([.. "GHPR"u8, 1, (byte)random.Next(1, 4), 0, (byte)declared, .. Bytes(random, Math.Max(0, declared + random.Next(-4, 5)))], "header + random body");
            case 2:
                return ([.. frame, .. Bytes(random, random.Next(3) == 0 ? 0 : random.Next(1, 32))], "valid + tunnel bytes");
            case 3:
                var flips = random.Next(1, 4);
                for (var i = 0; i < flips; i++)
                {
                    frame[random.Next(frame.Length)] ^= (byte)(1 << random.Next(8));
                }

                return (frame, $"{flips} bit flips");
            case 4:
                return (frame, "truncated");
            case 5:
                var length = random.Next(6) switch
                {
                    0 => RawLaneFrame.MaxBodyLength,
                    1 => RawLaneFrame.MaxBodyLength + 1,
                    2 => 0,
                    3 => random.Next(65536),
                    _ => Math.Clamp(frame.Length - 8 + random.Next(-3, 4), 0, 65535),
                };
                frame[6] = (byte)(length >> 8);
                frame[7] = (byte)length;
                return (frame, $"declared length {length}");
            case 6:
                if (frame.Length > 8)
                {
                    // A string or detail length inside the body.
                    frame[8 + random.Next(Math.Min(3, frame.Length - 8))] = (byte)random.Next(256);
                }

                return (frame, "inner length edited");
            case 7:
                var other = RawLaneFrame.Encode(ValidMessage(random));
                return random.Next(2) == 0
                    ? ([.. frame, .. other], "two frames")
                    : ([.. frame.AsSpan(0, random.Next(frame.Length + 1)), .. other.AsSpan(random.Next(other.Length + 1))], "spliced");
            case 8:
                var at = random.Next(frame.Length + 1);
                return random.Next(2) == 0
                    ? ([.. frame.AsSpan(0, at), (byte)random.Next(256), .. frame.AsSpan(at)], $"byte inserted at {at}")
                    : ([.. frame.AsSpan(0, Math.Min(at, frame.Length - 1)), .. frame.AsSpan(Math.Min(at + 1, frame.Length))], $"byte deleted at {at}");
            case 9:
                if (frame.Length > 8)
                {
                    frame[random.Next(8, frame.Length)] = Hostile[random.Next(Hostile.Length)];
                }

                return (frame, "hostile body byte");
            default:
                return (frame, "valid");
        }
    }

    private static RawLaneMessage ValidMessage(Random random)
    {
        switch (random.Next(3))
        {
            case 0:
                // Mostly short; now and then a token near the limit (with a proof that still fits the body).
                var token = random.Next(40) == 0 ? random.Next(3000, RawLaneFrame.MaxTokenLength + 1) : random.Next(1, 80);
                var proof = random.Next(1, Math.Min(255, RawLaneFrame.MaxBodyLength - 3 - token) + 1);
                return new RawLaneHello(Ascii(random, token), Ascii(random, proof));
            case 1:
                return new RawLaneOpen(Ascii(random, random.Next(20) == 0 ? random.Next(1, 256) : random.Next(1, 24)));
            default:
                var detail = new StringBuilder();
                var pieces = random.Next(5) == 0 ? 0 : random.Next(1, random.Next(10) == 0 ? 400 : 30);
                for (var i = 0; i < pieces; i++)
                {
                    detail.Append(DetailPieces[random.Next(DetailPieces.Length)]);
                }

                return new RawLaneReply((StatusCode)random.Next(17), detail.ToString());
        }
    }

    private static string Ascii(Random random, int length) =>
        string.Create(length, random, (chars, r) =>
        {
            for (var i = 0; i < chars.Length; i++)
            {
                chars[i] = (char)r.Next('!', '~' + 1);
            }
        });

    private static byte[] Bytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Up to five cut points, repeats (empty segments) allowed.</summary>
    private static int[] RandomCuts(Random random, int length)
    {
        var cuts = new int[random.Next(6)];
        for (var i = 0; i < cuts.Length; i++)
        {
            cuts[i] = random.Next(length + 1);
        }

        Array.Sort(cuts);
        return cuts;
    }

    private static bool Unchanged(ReadOnlySequence<byte> after, ReadOnlySequence<byte> before) =>
        after.Start.Equals(before.Start) && after.End.Equals(before.End);

    private static string Hex(byte[] bytes) =>
        bytes.Length <= 64 ? Convert.ToHexString(bytes) : $"{Convert.ToHexString(bytes, 0, 64)}... ({bytes.Length} bytes)";
}
