<#
.SYNOPSIS
  Installs hvagent as a Windows service on a Hyper-V host (WMI backend).

.DESCRIPTION
  Copies hvagent.exe to $InstallDir, writes its configuration, opens the
  agent's port for drserver, and registers the "hvagent" service that runs
  under LocalSystem (which the WMI namespace root\virtualization\v2
  requires; or pass -Credential for a member of "Hyper-V Administrators").
  Run from an elevated PowerShell on the Hyper-V host:
    .\install-hvagent.ps1 -Binary .\hvagent.exe -Listen 0.0.0.0:50061 -DrServer 10.0.0.5 `
      -Certificate .\agent-hv-dr-1.crt -Key .\agent-hv-dr-1.key -CaCertificate .\ca.crt
  The agent serves mutual TLS only: its certificate must name this host's
  id (as registered in drserver) and chain to the CA, and only drserver's
  client certificate (identity -DrServerIdentity) may call it
  (docs/security.md).

.PARAMETER Binary       Path of the built hvagent.exe (see README, "Building the agent for Windows").
.PARAMETER InstallDir   Where the agent and its journal live.
.PARAMETER Listen       host:port the agent serves dr.v1.HostAgentService on.
.PARAMETER DrServer     Address allowed to reach the agent's port (firewall rule).
.PARAMETER Certificate  PEM certificate of this host (its host id as a DNS SAN).
.PARAMETER Key          Its PEM private key (copied where only SYSTEM and Administrators read it).
.PARAMETER CaCertificate PEM CA that drserver's client certificate chains to.
.PARAMETER DrServerIdentity The certificate identity (SAN) of drserver; "drserver" by default.
.PARAMETER Credential   Optional service account; LocalSystem when omitted.
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
  [Parameter(Mandatory = $true)] [string] $Binary,
  [string] $InstallDir = "$env:ProgramFiles\hvdr",
  [string] $Listen = "0.0.0.0:50061",
  [Parameter(Mandatory = $true)] [string] $DrServer,
  [Parameter(Mandatory = $true)] [string] $Certificate,
  [Parameter(Mandatory = $true)] [string] $Key,
  [Parameter(Mandatory = $true)] [string] $CaCertificate,
  [string] $DrServerIdentity = "drserver",
  [System.Management.Automation.PSCredential] $Credential
)
$ErrorActionPreference = 'Stop'

if (-not (Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_ReplicationService -ErrorAction SilentlyContinue)) {
  throw "Hyper-V is not installed here (no root\virtualization\v2): hvagent would answer 32777."
}
if (-not (Test-Path $Binary)) { throw "No hvagent.exe at $Binary" }
$port = [int]($Listen.Split(':')[-1])

foreach ($f in @($Certificate, $Key, $CaCertificate)) {
  if (-not (Test-Path $f)) { throw "No file at $f" }
}
New-Item -ItemType Directory -Force -Path $InstallDir, "$InstallDir\data", "$InstallDir\tls" | Out-Null
Copy-Item -Force $Binary "$InstallDir\hvagent.exe"
Copy-Item -Force $Certificate "$InstallDir\tls\agent.crt"
Copy-Item -Force $Key "$InstallDir\tls\agent.key"
Copy-Item -Force $CaCertificate "$InstallDir\tls\ca.crt"
# The key: SYSTEM and Administrators only, nothing inherited.
icacls "$InstallDir\tls\agent.key" /inheritance:r /grant:r "SYSTEM:(R)" "Administrators:(F)" | Out-Null
@"
# hvagent configuration (read by the service command line below)
listen=$Listen
backend=wmi
journal=$InstallDir\data\journal.db
"@ | Set-Content -Encoding UTF8 "$InstallDir\hvagent.conf"

$tls = "--tls_cert_file=`"$InstallDir\tls\agent.crt`" --tls_key_file=`"$InstallDir\tls\agent.key`" --tls_ca_file=`"$InstallDir\tls\ca.crt`" --drserver_identity=$DrServerIdentity"
$cmd = "`"$InstallDir\hvagent.exe`" --backend=wmi --listen=$Listen --journal=`"$InstallDir\data\journal.db`" $tls"
if (Get-Service hvagent -ErrorAction SilentlyContinue) {
  Stop-Service hvagent
  sc.exe delete hvagent | Out-Null
}
$params = @{ Name = 'hvagent'; BinaryPathName = $cmd; DisplayName = 'hvdr Hyper-V Replica agent';
             Description = 'Performs DR operations (failover, commit, reverse...) for drserver through WMI.';
             StartupType = 'Automatic' }
if ($Credential) { $params.Credential = $Credential }
New-Service @params | Out-Null
# Restart on failure: a crash never loses a job (the journal keeps it).
sc.exe failure hvagent reset= 86400 actions= restart/2000/restart/5000/restart/10000 | Out-Null

if (-not (Get-NetFirewallRule -DisplayName 'hvagent' -ErrorAction SilentlyContinue)) {
  New-NetFirewallRule -DisplayName 'hvagent' -Direction Inbound -Protocol TCP -LocalPort $port `
    -RemoteAddress $DrServer -Action Allow | Out-Null
}
Start-Service hvagent
Write-Host "hvagent installed in $InstallDir and listening on $Listen; register it with:"
Write-Host "  drctl hosts add $($env:COMPUTERNAME.ToLower()) --site SITE --agent $($env:COMPUTERNAME):$port"
