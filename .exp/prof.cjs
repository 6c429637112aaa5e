// usage: node prof.cjs file.cpuprofile [n] : self time by function and by package/file
const fs=require('fs');const p=JSON.parse(fs.readFileSync(process.argv[2]));const n=+process.argv[3]||40
const byId=new Map(p.nodes.map(x=>[x.id,x]));const self=new Map();const dt=p.timeDeltas;let total=0
const counts=new Map();for(let i=0;i<p.samples.length;i++){counts.set(p.samples[i],(counts.get(p.samples[i])||0)+(dt[i]||0))}
const fn=new Map(),file=new Map()
for(const [id,t] of counts){const x=byId.get(id);const cf=x.callFrame;total+=t
 const k=`${cf.functionName||'(anon)'} ${cf.url.replace(/.*node_modules\//,'nm/').replace(/.*\/work\/[^/]+\//,'')}:${cf.lineNumber}`
 fn.set(k,(fn.get(k)||0)+t);let f=cf.url.replace(/.*node_modules\/(@[^/]+\/[^/]+|[^/]+).*/,'nm:$1').replace(/.*\/work\/[^/]+\//,'');if(!f)f=cf.functionName;file.set(f,(file.get(f)||0)+t)}
const pr=(m)=>[...m].sort((a,b)=>b[1]-a[1]).slice(0,n).forEach(([k,t])=>console.log((t/total*100).toFixed(1).padStart(5)+'%  '+k))
console.log('total ms',total/1000);pr(file);console.log('----');pr(fn)
