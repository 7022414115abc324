// Prints the first N tau·G1 points and the first two tau·G2 points of a .ptau file as
// affine coordinates in decimal, read with snarkjs's own libraries (binfileutils,
// ffjavascript). The Rust test of `zkinfer srs import` compares its points with these.
// Usage: node ptau-points.cjs FILE.ptau N > points.json
const binFileUtils = require("@iden3/binfileutils");
const { getCurveFromName } = require("ffjavascript");

async function main() {
    const [file, nArg] = process.argv.slice(2);
    const n = Number(nArg);
    const { fd, sections } = await binFileUtils.readBinFile(file, "ptau", 1);
    const curve = await getCurveFromName("bn128");
    const read = async (section, G, count) => {
        const out = [];
        await binFileUtils.startReadUniqueSection(fd, sections, section);
        for (let i = 0; i < count; i++) {
            const p = G.fromRprLEM(await fd.read(G.F.n8 * 2), 0);
            const a = G.toObject(G.toAffine(p));
            const hex = (c) => "0x" + c.toString(16);
            out.push(a.slice(0, 2).map((c) => (Array.isArray(c) ? c.map(hex) : hex(c))));
        }
        await binFileUtils.endReadSection(fd, true);
        return out;
    };
    const tauG1 = await read(2, curve.G1, n);
    const tauG2 = await read(3, curve.G2, 2);
    await fd.close();
    await curve.terminate();
    process.stdout.write(JSON.stringify({ tauG1, tauG2 }));
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
