using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace GitHubActionsPort.TestSupport.Images;

/// <summary>
/// A read-only OCI distribution registry on 127.0.0.1 with a port from the OS, serving one image: the few endpoints
/// a pull takes (<c>GET /v2/</c>, manifests by tag or digest, blobs by digest; <c>HEAD</c> of each). Anything else is
/// 404 (an unknown name or reference) or 405 (a push). Plain HTTP: the .NET SDK's container tasks reach it when it is
/// named in <c>DOTNET_CONTAINER_INSECURE_REGISTRIES</c> (they try TLS, then fall back to HTTP for that name only).
/// Every blob it served is recorded, so a test can tell which layers a build pulled from it.
/// </summary>
public sealed class OciRegistry : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly OciImage _image;

    private OciRegistry(WebApplication app, OciImage image, string address)
    {
        _app = app;
        _image = image;
        Address = address;
    }

    /// <summary><c>127.0.0.1:PORT</c>: the registry part of an image reference.</summary>
    public string Address { get; }

    /// <summary>The image's full reference on this registry (<c>127.0.0.1:PORT/REPOSITORY:TAG</c>).</summary>
    public string ImageReference => _image.Reference(Address);

    /// <summary>The digests of the blobs answered with their content (GET), in the order asked.</summary>
    public ConcurrentQueue<string> BlobsServed { get; } = new();

    public static async Task<OciRegistry> StartAsync(OciImage image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        OciRegistry? registry = null;
        app.Run(context => registry!.AnswerAsync(context));
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        registry = new OciRegistry(app, image, $"127.0.0.1:{bound.Port}");
        return registry;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task AnswerAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }

        var path = request.Path.Value ?? string.Empty;
        response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        if (path is "/v2/" or "/v2")
        {
            response.ContentType = "application/json";
            await response.WriteAsync("{}", context.RequestAborted).ConfigureAwait(false);
            return;
        }

        var prefix = $"/v2/{_image.Repository}/";
        if (!path.StartsWith(prefix, StringComparison.Ordinal))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        var rest = path[prefix.Length..];
        if (rest.StartsWith("manifests/", StringComparison.Ordinal))
        {
            var reference = rest["manifests/".Length..];
            if (reference != _image.Tag && reference != _image.ManifestDigest)
            {
                response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            await SendAsync(context, OciImage.ManifestMediaType, _image.ManifestDigest, _image.Manifest.Length, s => s.WriteAsync(_image.Manifest, context.RequestAborted).AsTask()).ConfigureAwait(false);
            return;
        }

        if (rest.StartsWith("blobs/", StringComparison.Ordinal))
        {
            var digest = rest["blobs/".Length..];
            if (digest == _image.ConfigDigest)
            {
                await SendAsync(context, OciImage.ConfigMediaType, digest, _image.Config.Length, s => s.WriteAsync(_image.Config, context.RequestAborted).AsTask()).ConfigureAwait(false);
                return;
            }

            if (_image.Layers.FirstOrDefault(l => l.Digest == digest) is { } layer)
            {
                await SendAsync(context, "application/octet-stream", digest, layer.Size, async s =>
                {
                    await using var file = File.OpenRead(layer.Path);
                    await file.CopyToAsync(s, context.RequestAborted).ConfigureAwait(false);
                }).ConfigureAwait(false);
                return;
            }
        }

        response.StatusCode = StatusCodes.Status404NotFound;
    }

    private async Task SendAsync(HttpContext context, string mediaType, string digest, long length, Func<Stream, Task> write)
    {
        var response = context.Response;
        response.ContentType = mediaType;
        response.ContentLength = length;
        response.Headers["Docker-Content-Digest"] = digest;
        if (HttpMethods.IsGet(context.Request.Method))
        {
            if (context.Request.Path.Value!.Contains("/blobs/", StringComparison.Ordinal))
            {
                BlobsServed.Enqueue(digest);
            }

            await write(response.Body).ConfigureAwait(false);
        }
    }
}
