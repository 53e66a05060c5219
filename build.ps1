#Requires -Version 7
<#
.SYNOPSIS
    Build, test, demo, benchmark and publish GitHub Actions Port.

.DESCRIPTION
    Run with the PowerShell pinned as a local dotnet tool:

        dotnet tool restore
        dotnet pwsh ./build.ps1 [build|test|demo|bench|publish] [extra arguments...]

    build    dotnet build of the solution (Release).
    test     build, then dotnet test with TRX results in artifacts/test-results. dotnet test's
             own output goes to artifacts/test-results/test-output.log (its path is printed);
             the console shows each failed test (name, message, the top of its stack) and, as
             the last line, "<n> passed, <n> failed, <n> skipped". Fails when dotnet test
             fails, when any test fails, or when no test ran. Extra arguments go to
             dotnet test (e.g. --filter "FullyQualifiedName~Splice").
    demo     dotnet run of the harness "demo" command; extra arguments are passed through.
    bench    dotnet run of the harness "bench" command (Release); extra arguments are passed
             through, e.g. --quick, --routes direct,socat,grpc-h2c,raw-plain,
             --scenarios throughput,rtt,connect,idle,pgbench,stores, --json PATH. Every route is measured
             beside direct loopback and the socat chain in the same run; the table of ratios and
             the goal checks come last, and the JSON goes to bench/results/<UTC timestamp>.json.
             The same without PowerShell:
                 dotnet run --project tests/GitHubActionsPort.Harness -c Release -- bench [options]
             For 10,000 idle tunnels the harness raises its open-file limit to 262144 with
             prlimit (root with CAP_SYS_RESOURCE); elsewhere it measures what fits and says so.
    publish  self-contained single-file ghaport and ghaport-broker for linux-x64,
             linux-arm64 and win-x64 into artifacts/publish/<rid>, and the ghaport
             .NET tool package into artifacts/packages.

    Extra arguments are collected by PowerShell, so a bare "--" and short switches that
    match a common parameter (-v, -d, -e, ...) are not passed through; use long forms.
#>
param(
    [ValidateSet('build', 'test', 'demo', 'bench', 'publish')]
    [string] $Target = 'build',

    [Parameter(ValueFromRemainingArguments)]
    $Rest
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
# Exit codes of native commands are checked explicitly below, with a message naming the command.
$PSNativeCommandUseErrorActionPreference = $false
if ([Console]::IsOutputRedirected -or $env:NO_COLOR) {
    $PSStyle.OutputRendering = 'PlainText'
}

Set-Location -LiteralPath $PSScriptRoot

$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'

$Solution = 'GitHubActionsPort.sln'
$Configuration = 'Release'
$AgentProject = 'agent/GitHubActionsPort.Agent.csproj'
$BrokerProject = 'broker/GitHubActionsPort.Broker.csproj'
$HarnessProject = 'tests/GitHubActionsPort.Harness'
$ArtifactsDir = Join-Path $PSScriptRoot 'artifacts'
$TestResultsDir = Join-Path $ArtifactsDir 'test-results'
$TestLog = Join-Path $TestResultsDir 'test-output.log'
$PublishDir = Join-Path $ArtifactsDir 'publish'
$PackagesDir = Join-Path $ArtifactsDir 'packages'
$PublishRids = @('linux-x64', 'linux-arm64', 'win-x64')

# Pass-through arguments as plain strings (no $null when none were given). Typed inside a PowerShell session,
# "--routes direct,socat" arrives as an array; it goes on as the comma list it was.
$RestArgs = [string[]] @($Rest | Where-Object { $null -ne $_ } | ForEach-Object { if ($_ -is [System.Collections.IList]) { $_ -join ',' } else { [string] $_ } })

# Exit code of the last command run through Invoke-Native.
$script:NativeExitCode = 0

function Write-Step {
    param([Parameter(Mandatory)] [string] $Text)
    Write-Host ''
    Write-Host "==> $Text" -ForegroundColor Cyan
}

function Write-Problem {
    param([Parameter(Mandatory)] [string] $Text)
    [Console]::Out.Flush()
    [Console]::Error.WriteLine("build.ps1: $Text")
    [Console]::Error.Flush()
}

function Format-CommandLine {
    param([string] $FilePath, [string[]] $ArgumentList)
    $parts = foreach ($a in @($FilePath) + @($ArgumentList)) {
        if ($a -match '[\s";&|<>()]' -or $a -eq '') { '"' + ($a -replace '"', '\"') + '"' } else { $a }
    }
    $parts -join ' '
}

function Invoke-Native {
    <#
    Runs a native command with its output going straight to the console (not captured),
    records its exit code in $script:NativeExitCode and, unless -AllowFailure, throws a
    clear error when it is not zero.
    #>
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [switch] $AllowFailure
    )
    $commandLine = Format-CommandLine $FilePath $ArgumentList
    Write-Host "> $commandLine" -ForegroundColor DarkGray
    $global:LASTEXITCODE = 0
    try {
        & $FilePath @ArgumentList
    }
    catch [System.Management.Automation.CommandNotFoundException] {
        throw "'$FilePath' was not found on PATH (needed for: $commandLine)."
    }
    $script:NativeExitCode = $global:LASTEXITCODE
    if ($script:NativeExitCode -ne 0 -and -not $AllowFailure) {
        throw "Command failed with exit code $($script:NativeExitCode): $commandLine"
    }
}

function Invoke-NativeToLog {
    <#
    Runs a native command with everything it prints (standard output and error) going to $LogFile instead of the
    console, and records its exit code in $script:NativeExitCode. Never throws for a non-zero exit code.
    #>
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [Parameter(Mandatory)] [string] $LogFile
    )
    $commandLine = Format-CommandLine $FilePath $ArgumentList
    Write-Host "> $commandLine" -ForegroundColor DarkGray
    Write-Host "  its full output: $LogFile" -ForegroundColor DarkGray
    $global:LASTEXITCODE = 0
    try {
        & $FilePath @ArgumentList *> $LogFile
    }
    catch [System.Management.Automation.CommandNotFoundException] {
        throw "'$FilePath' was not found on PATH (needed for: $commandLine)."
    }
    $script:NativeExitCode = $global:LASTEXITCODE
}

function Get-IntAttribute {
    param([System.Xml.XmlElement] $Element, [string] $Name)
    if ($null -eq $Element) { return 0 }
    $value = $Element.GetAttribute($Name)
    $n = 0
    if ([int]::TryParse($value, [ref] $n)) { return $n }
    return 0
}

function Get-TrxSummary {
    <#
    Sums the results of every *.trx file under $Directory. Per file, each of passed /
    failed / skipped is the larger of what ResultSummary/Counters says and what the
    UnitTestResult outcomes say, so a file is never counted twice and a file with a
    missing or partial Counters element still counts its results.
      failed  = Failed, Error, Timeout, Aborted
      skipped = NotExecuted, Inconclusive, NotRunnable
    Returns passed, failed, skipped, Files (count) and Errors (unreadable files).
    #>
    param([Parameter(Mandatory)] [string] $Directory)

    $summary = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0; Files = 0; Errors = [System.Collections.Generic.List[string]]::new() }
    if (-not (Test-Path -LiteralPath $Directory -PathType Container)) { return [pscustomobject] $summary }

    $files = @(Get-ChildItem -LiteralPath $Directory -Filter '*.trx' -Recurse -File | Sort-Object FullName)
    foreach ($file in $files) {
        $summary.Files++
        try {
            $doc = [System.Xml.XmlDocument]::new()
            $doc.XmlResolver = $null
            $doc.Load($file.FullName)
        }
        catch {
            $summary.Errors.Add("could not read $($file.FullName): $($_.Exception.Message)")
            continue
        }

        $counters = $doc.SelectSingleNode("/*[local-name()='TestRun']/*[local-name()='ResultSummary']/*[local-name()='Counters']")
        $cPassed = (Get-IntAttribute $counters 'passed') + (Get-IntAttribute $counters 'passedButRunAborted')
        $cFailed = (Get-IntAttribute $counters 'failed') + (Get-IntAttribute $counters 'error') +
            (Get-IntAttribute $counters 'timeout') + (Get-IntAttribute $counters 'aborted')
        $cSkipped = (Get-IntAttribute $counters 'notExecuted') + (Get-IntAttribute $counters 'inconclusive') +
            (Get-IntAttribute $counters 'notRunnable')

        $rPassed = 0; $rFailed = 0; $rSkipped = 0
        $results = $doc.SelectNodes("/*[local-name()='TestRun']/*[local-name()='Results']/*[local-name()='UnitTestResult']")
        foreach ($result in $results) {
            switch ($result.GetAttribute('outcome')) {
                { $_ -in 'Passed', 'PassedButRunAborted' } { $rPassed++ }
                { $_ -in 'Failed', 'Error', 'Timeout', 'Aborted' } { $rFailed++ }
                { $_ -in 'NotExecuted', 'Inconclusive', 'NotRunnable' } { $rSkipped++ }
            }
        }

        $summary.Passed += [Math]::Max($cPassed, $rPassed)
        $summary.Failed += [Math]::Max($cFailed, $rFailed)
        $summary.Skipped += [Math]::Max($cSkipped, $rSkipped)
    }
    return [pscustomobject] $summary
}

function Write-TrxFailures {
    <#
    Prints every failed result of the *.trx files under $Directory: the test's name, its message (at most
    $MessageLines lines) and the top $StackLines lines of its stack trace. Returns how many it printed.
    #>
    param(
        [Parameter(Mandatory)] [string] $Directory,
        [int] $MessageLines = 40,
        [int] $StackLines = 8
    )
    $printed = 0
    if (-not (Test-Path -LiteralPath $Directory -PathType Container)) { return $printed }
    foreach ($file in @(Get-ChildItem -LiteralPath $Directory -Filter '*.trx' -Recurse -File | Sort-Object FullName)) {
        $doc = [System.Xml.XmlDocument]::new()
        $doc.XmlResolver = $null
        try { $doc.Load($file.FullName) } catch { continue }
        # The class of each test, by id: a result names only its method.
        $classes = @{}
        foreach ($test in $doc.SelectNodes("/*[local-name()='TestRun']/*[local-name()='TestDefinitions']/*[local-name()='UnitTest']")) {
            $method = $test.SelectSingleNode("*[local-name()='TestMethod']")
            if ($null -ne $method) { $classes[$test.GetAttribute('id')] = $method.GetAttribute('className') }
        }
        $results = $doc.SelectNodes("/*[local-name()='TestRun']/*[local-name()='Results']/*[local-name()='UnitTestResult']")
        foreach ($result in $results) {
            if ($result.GetAttribute('outcome') -notin 'Failed', 'Error', 'Timeout', 'Aborted') { continue }
            $printed++
            $errorInfo = $result.SelectSingleNode("*[local-name()='Output']/*[local-name()='ErrorInfo']")
            $name = $result.GetAttribute('testName')
            $class = $classes[$result.GetAttribute('testId')]
            if ($class) { $name = "$class.$name" }
            Write-Host ''
            Write-Host "FAILED $name ($($result.GetAttribute('outcome')), $($result.GetAttribute('duration')))" -ForegroundColor Red
            foreach ($part in @(@('Message', $MessageLines), @('StackTrace', $StackLines))) {
                $node = if ($null -ne $errorInfo) { $errorInfo.SelectSingleNode("*[local-name()='$($part[0])']") } else { $null }
                if ($null -eq $node -or [string]::IsNullOrWhiteSpace($node.InnerText)) { continue }
                $lines = @($node.InnerText.TrimEnd() -split "\r?\n")
                foreach ($line in @($lines | Select-Object -First $part[1])) { Write-Host "    $line" }
                if ($lines.Count -gt $part[1]) {
                    Write-Host "    ... ($($lines.Count - $part[1]) more lines of $($part[0].ToLowerInvariant()) in $($file.FullName))" -ForegroundColor DarkGray
                }
            }
        }
    }
    return $printed
}

function Format-Size {
    param([long] $Bytes)
    if ($Bytes -ge 1MB) { return '{0:N1} MB' -f ($Bytes / 1MB) }
    return '{0:N1} KB' -f ($Bytes / 1KB)
}

function Format-TestSummary {
    param([Parameter(Mandatory)] $Summary)
    "$($Summary.Passed) passed, $($Summary.Failed) failed, $($Summary.Skipped) skipped"
}

function Invoke-Build {
    Write-Step "Build $Solution ($Configuration)"
    Invoke-Native dotnet @('build', $Solution, '-c', $Configuration)
}

function Invoke-Test {
    # The summary line must be the last line of output whatever happens, so problems are
    # reported first and the process exits after printing it.
    $problems = [System.Collections.Generic.List[string]]::new()

    Write-Step "Clean $TestResultsDir"
    if (Test-Path -LiteralPath $TestResultsDir) {
        Remove-Item -LiteralPath $TestResultsDir -Recurse -Force
    }
    $null = New-Item -ItemType Directory -Path $TestResultsDir -Force

    $built = $true
    try {
        Invoke-Build
    }
    catch {
        $built = $false
        $problems.Add("build failed, no test was run: $($_.Exception.Message)")
    }

    if ($built) {
        Write-Step "Test $Solution ($Configuration)"
        $testArgs = @(
            'test', $Solution,
            '-c', $Configuration,
            '--no-build',
            '--results-directory', $TestResultsDir,
            '--logger', 'trx;LogFileName=tests.trx',
            '--logger', 'console;verbosity=normal'
        ) + $RestArgs
        Invoke-NativeToLog dotnet $testArgs -LogFile $TestLog
        if ($script:NativeExitCode -ne 0) {
            $problems.Add("dotnet test exited with code $($script:NativeExitCode); its full output is in $TestLog.")
        }
    }

    Write-Step "Test results ($TestResultsDir)"
    $failuresShown = Write-TrxFailures -Directory $TestResultsDir
    if ($built -and $script:NativeExitCode -ne 0 -and $failuresShown -eq 0 -and (Test-Path -LiteralPath $TestLog)) {
        # No failed result to show (a build or test-host failure, a crash): the end of the log says why.
        Write-Host "The last lines of $($TestLog):"
        Get-Content -LiteralPath $TestLog -Tail 40 | ForEach-Object { Write-Host "    $_" }
    }
    $summary = Get-TrxSummary -Directory $TestResultsDir
    foreach ($e in $summary.Errors) { $problems.Add($e) }
    if ($built) {
        if ($summary.Files -eq 0) {
            $problems.Add("no TRX file was produced under $TestResultsDir.")
        }
        if ($summary.Failed -gt 0) {
            $problems.Add("$($summary.Failed) test(s) failed.")
        }
        if ($summary.Passed + $summary.Failed -eq 0) {
            $problems.Add('no test ran.')
        }
    }

    foreach ($p in $problems) { Write-Problem $p }
    [Console]::Error.Flush()
    Write-Host (Format-TestSummary $summary)
    if ($problems.Count -gt 0) { exit 1 }
    exit 0
}

function Invoke-Harness {
    param([Parameter(Mandatory)] [string] $Command)
    Write-Step "Harness $Command ($Configuration)"
    Invoke-Native dotnet (@('run', '-c', $Configuration, '--project', $HarnessProject, '--', $Command) + $RestArgs) -AllowFailure
    if ($script:NativeExitCode -ne 0) {
        Write-Problem "harness '$Command' exited with code $($script:NativeExitCode)."
    }
    exit $script:NativeExitCode
}

function Invoke-Publish {
    foreach ($rid in $PublishRids) {
        $out = Join-Path $PublishDir $rid
        Write-Step "Publish $rid -> $out"
        if (Test-Path -LiteralPath $out) {
            Remove-Item -LiteralPath $out -Recurse -Force
        }
        foreach ($project in @($AgentProject, $BrokerProject)) {
            Invoke-Native dotnet @(
                'publish', $project,
                '-c', $Configuration,
                '-r', $rid,
                '--self-contained',
                '-p:PublishSingleFile=true',
                '-p:IncludeNativeLibrariesForSelfExtract=true',
                '-p:EnableCompressionInSingleFile=true',
                '-o', $out
            )
        }
    }

    Write-Step "Pack $AgentProject -> $PackagesDir"
    Invoke-Native dotnet @('pack', $AgentProject, '-c', $Configuration, '-o', $PackagesDir)

    Write-Step 'Published binaries'
    foreach ($rid in $PublishRids) {
        $out = Join-Path $PublishDir $rid
        $binaries = @(Get-ChildItem -LiteralPath $out -File |
                Where-Object { $_.Name -in 'ghaport', 'ghaport-broker', 'ghaport.exe', 'ghaport-broker.exe' } |
                Sort-Object Name)
        if ($binaries.Count -eq 0) {
            throw "No ghaport / ghaport-broker binary found in $out."
        }
        foreach ($b in $binaries) {
            '{0,-12} {1,-20} {2,10}' -f $rid, $b.Name, (Format-Size $b.Length) | Write-Host
        }
        $binaryNames = @($binaries | ForEach-Object Name)
        $others = @(Get-ChildItem -LiteralPath $out -File | Where-Object { $_.Name -notin $binaryNames })
        if ($others.Count -gt 0) {
            '{0,-12} (+ {1} other file(s): {2})' -f $rid, $others.Count, (($others.Name | Sort-Object) -join ', ') | Write-Host
        }
    }
    foreach ($p in @(Get-ChildItem -LiteralPath $PackagesDir -Filter '*.nupkg' -File | Sort-Object Name)) {
        '{0,-12} {1,-20} {2,10}' -f 'package', $p.Name, (Format-Size $p.Length) | Write-Host
    }
}

function Invoke-PublishImage {
    <#
    The broker's OCI image as a tarball, ghaport-broker-image.tar.gz in the release folder (artifacts/release, or
    the --release-dir and --version of Invoke-Publish when it calls this). Built by the harness "image" command with
    the SDK's container support (dotnet publish -t:PublishContainer, self-contained, the image settings of the
    broker's project file); this machine cannot reach mcr.microsoft.com, so the base image is a stand-in made from
    this host's Debian packages (apt-get download, dpkg-deb; cached in artifacts/image-base) and served by a registry
    on loopback: ContainerBaseImage is the one property that differs from release.yml's image. Linux with apt and
    dpkg only; elsewhere it says so and makes nothing.
    #>
    $dir = Get-Variable -Name releaseDir -ValueOnly -ErrorAction Ignore
    if (-not $dir) { $dir = Join-Path $ArtifactsDir 'release' }
    $ver = Get-Variable -Name version -ValueOnly -ErrorAction Ignore
    $notMade = Get-Variable -Name skipped -ValueOnly -ErrorAction Ignore
    $madeList = Get-Variable -Name made -ValueOnly -ErrorAction Ignore
    $asset = 'ghaport-broker-image.tar.gz'
    $missing = @('apt-get', 'dpkg-deb' | Where-Object { -not (Get-Command $_ -ErrorAction Ignore) })
    if (-not $IsLinux -or $missing.Count -gt 0) {
        $why = if (-not $IsLinux) { 'not Linux' } else { "no $($missing -join ', ') on PATH" }
        $message = "$asset (its stand-in base layer is made from Debian packages: $why; release.yml builds the image on mcr.microsoft.com/dotnet/runtime-deps)"
        if ($null -ne $notMade) { $notMade.Add($message) } else { Write-Host "not made: $message" -ForegroundColor Yellow }
        return
    }

    $null = New-Item -ItemType Directory -Path $dir -Force
    $output = Join-Path $dir $asset
    Write-Step "Broker image -> $output"
    $imageArgs = @('run', '-c', $Configuration, '--project', $HarnessProject, '--', 'image', '--output', $output)
    if ($ver) { $imageArgs += @('--version', $ver) }
    Invoke-Native dotnet $imageArgs
    if ($null -ne $madeList) { $madeList.Add([pscustomobject] @{ Asset = $asset; Kind = 'oci image' }) }
}

try {
    switch ($Target) {
        'build' { Invoke-Build }
        'test' { Invoke-Test }
        'demo' { Invoke-Harness -Command 'demo' }
        'bench' { Invoke-Harness -Command 'bench' }
        'publish' { Invoke-Publish }
    }
}
catch {
    Write-Problem "$Target failed: $($_.Exception.Message)"
    exit 1
}
exit 0
